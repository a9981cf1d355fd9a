//go:build tools

// What the provider's command (cmd/pulumi-resource-kubernetes, copied in at build time because it
// embeds generated files) and its go:generate step import, so that go.mod and go.sum pin them.
package tools

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
	_ "github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)
