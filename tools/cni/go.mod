module cnikit.local/tools/cni

// cnitool, the CNI project's reference runtime, for the CNI plugin contract run.

go 1.24

tool github.com/containernetworking/cni/cnitool

require github.com/containernetworking/cni v1.3.0 // indirect
