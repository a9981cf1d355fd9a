import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

/**
 * An HTTP server on 127.0.0.1 that speaks the part of the Kubernetes API the agents use, with the
 * real server's JSON shapes and status codes. Where each shape comes from:
 *
 * - Lists: `{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"…"},"items":[…]}`; items
 *   carry no kind/apiVersion (apiserver's list encoding; `k8s.io/apimachinery` meta/v1 ListMeta).
 * - Watch (`?watch=1&resourceVersion=N`): HTTP 200, chunked, one JSON object per line
 *   `{"type":"ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK","object":{…}}` (meta/v1 WatchEvent). Without a
 *   resourceVersion (or "0") the current objects arrive first as synthetic ADDED events. A
 *   resourceVersion older than the kept history gets `{"type":"ERROR","object":<Status 410 Expired>}`
 *   and the stream ends, as etcd compaction makes the real server do. `timeoutSeconds` ends the stream.
 *   BOOKMARK objects carry only kind, apiVersion and metadata.resourceVersion.
 * - Errors are meta/v1 Status objects: 404 NotFound (`nodes "x" not found`), 409 AlreadyExists
 *   (`… "x" already exists`), 409 Conflict (`Operation cannot be fulfilled on …: the object has been
 *   modified; please apply your changes to the latest version and try again`), 422 Invalid (update
 *   without metadata.resourceVersion for custom resources: their strategy forbids unconditional
 *   updates), 415 UnsupportedMediaType for unknown patch types.
 * - PATCH: `application/merge-patch+json` (RFC 7386) and `application/strategic-merge-patch+json`
 *   (maps merged, `null` deletes, lists replaced except those with a patchMergeKey in core/v1
 *   types.go: `status.conditions` and `status.addresses` merge by `type`).
 * - Node subresources (pkg/registry/core/node/strategy.go): a write to `nodes/{name}` keeps the old
 *   status; a write to `nodes/{name}/status` keeps the old spec (metadata, e.g. annotations, is
 *   writable through both — which is why flannel patches its annotations via `nodes/status`).
 * - TokenRequest (`POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`,
 *   pkg/registry/core/serviceaccount/storage/token.go): 201 with the request echoed as
 *   `{"kind":"TokenRequest","apiVersion":"authentication.k8s.io/v1","metadata":{"name","namespace",
 *   "creationTimestamp":null},"spec":{"audiences":[…],"expirationSeconds":N,"boundObjectRef":null},
 *   "status":{"token":"<JWT>","expirationTimestamp":"<RFC 3339, seconds>"}}`; no audiences = the
 *   API server's; expirationSeconds defaults to 3600, below 600 is 422 Invalid (`may not specify a
 *   duration less than 10 minutes`), and `--service-account-max-token-expiration` (setTokenLifetime)
 *   caps what is granted; 404 when the ServiceAccount does not exist.
 *
 * - TLS and authentication (options `tls`, `authenticate`): HTTPS with the given serving certificate;
 *   with `tls.clientCa`, client certificates are requested and verified against it but not required
 *   (the apiserver's `--client-ca-file`: an unverified or missing certificate only means "not
 *   authenticated by certificate"). A request the authenticator refuses gets the apiserver's 401:
 *   `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized",
 *   "reason":"Unauthorized","code":401}`. Every request is recorded with the credentials it carried.
 *
 * resourceVersions come from one counter for all objects, like etcd's revision.
 */
export interface FakeKubeApi {
  /** e.g. `http://127.0.0.1:40123` (`https://…` with `tls`) */
  readonly url: string;
  /** Every request seen, in order (body parsed when JSON). */
  readonly requests: RecordedRequest[];
  /** Registers a resource type (nodes are registered already). */
  defineResource(resource: ResourceType): void;
  /** Creates or replaces an object as an admin would (bumps resourceVersion, emits ADDED/MODIFIED). */
  upsert(plural: string, object: FakeObject, namespace?: string): FakeObject;
  /** Deletes an object (emits DELETED); false when absent. */
  remove(plural: string, name: string, namespace?: string): boolean;
  get(plural: string, name: string, namespace?: string): FakeObject | undefined;
  /** Forgets watch history up to now: older resourceVersions get 410 Gone. */
  compact(): void;
  /** Sends a BOOKMARK with the current resourceVersion on every open watch. */
  bookmark(): void;
  /** Ends every open watch stream (as an apiserver restart or a load balancer would). */
  dropWatches(): void;
  /** How many watch streams are open. */
  openWatches(): number;
  /** TokenRequest: grant at most this lifetime (the apiserver's --service-account-max-token-expiration). @default as asked */
  setTokenLifetime(maxSeconds: number | undefined): void;
  /** The next `count` requests (any path) answer 503 ServiceUnavailable, as an apiserver that is restarting. */
  failNext(count: number): void;
  /** Tokens issued by TokenRequest, in order. */
  readonly issuedTokens: IssuedToken[];
  /** Resolves with the request of the next watch stream the server opens (answered 200 and registered; not a 410). */
  nextWatch(): Promise<RecordedRequest>;
  /**
   * Serves a new certificate (needs `tls`), as an apiserver whose serving certificate was replaced;
   * idle kept-alive connections are closed, so the next request makes a new TLS handshake.
   */
  setServingCertificate(tls: { readonly key: string; readonly cert: string }): void;
  close(): Promise<void>;
}

export interface FakeKubeApiOptions {
  /** The server's clock (epoch ms) for token expiry and creation timestamps. @default Date.now */
  readonly now?: () => number;
  /** Serve HTTPS. @default plain HTTP */
  readonly tls?: FakeKubeApiTls;
  /** Decides whether a request's credentials are accepted; refused requests get 401 Unauthorized. @default every request is accepted */
  readonly authenticate?: (credentials: RequestCredentials) => boolean;
}

export interface FakeKubeApiTls {
  /** PEM serving key and certificate (the certificate should name IP 127.0.0.1). */
  readonly key: string;
  readonly cert: string;
  /** PEM CA that client certificates are verified against (`--client-ca-file`). @default client certificates are not requested */
  readonly clientCa?: string;
}

/** What a request authenticated with. */
export interface RequestCredentials {
  /** The token of an `Authorization: Bearer …` header. */
  readonly bearerToken?: string;
  /** A client certificate that verified against `tls.clientCa`: its subject (Kubernetes reads CN as the user, O as groups). */
  readonly clientCertificate?: { readonly commonName: string; readonly organizations: readonly string[] };
}

export interface IssuedToken {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly token: string;
  readonly expirationTimestamp: string;
}

export interface ResourceType {
  /** API group; '' for core. */
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced?: boolean;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly contentType?: string;
  readonly body?: unknown;
  /** The `Authorization` header as sent. */
  readonly authorization?: string;
  /** The verified client certificate's subject, when one was presented and verified. */
  readonly clientCertificate?: RequestCredentials['clientCertificate'];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type FakeObject = { [key: string]: Json } & { metadata?: { [key: string]: Json } };

interface Event {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly plural: string;
  readonly namespace?: string;
  readonly object: FakeObject;
}

interface Watch {
  readonly plural: string;
  readonly namespace?: string;
  readonly res: http.ServerResponse;
  readonly bookmarks: boolean;
}

const NODE: ResourceType = { group: '', version: 'v1', plural: 'nodes', kind: 'Node' };
const SERVICE_ACCOUNT: ResourceType = { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true };
/** The API server's default audience (`--api-audiences`, defaulting to the issuer). */
const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';
const MERGE_KEYS: Record<string, string> = { 'status.conditions': 'type', 'status.addresses': 'type' };

export async function startFakeKubeApi(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const now = options.now ?? Date.now;
  const types = new Map<string, ResourceType>([[NODE.plural, NODE], [SERVICE_ACCOUNT.plural, SERVICE_ACCOUNT]]);
  const issuedTokens: IssuedToken[] = [];
  let maxTokenSeconds: number | undefined;
  let failing = 0;
  const objects = new Map<string, FakeObject>(); // `${plural}/${namespace}/${name}`
  const history: Event[] = [];
  const watches = new Set<Watch>();
  const requests: RecordedRequest[] = [];
  let revision = 100;
  let compactedAt = 0;
  let uid = 0;
  let watchWaiters: ((request: RecordedRequest) => void)[] = [];

  const keyOf = (plural: string, name: string, namespace?: string): string => `${plural}/${namespace ?? ''}/${name}`;
  const apiVersionOf = (t: ResourceType): string => (t.group ? `${t.group}/${t.version}` : t.version);
  const qualified = (t: ResourceType): string => (t.group ? `${t.plural}.${t.group}` : t.plural);

  function emit(type: Event['type'], t: ResourceType, object: FakeObject, namespace?: string): void {
    const event: Event = { rv: revision, type, plural: t.plural, namespace, object: clone(object) };
    history.push(event);
    for (const w of watches) if (matches(w, event)) writeEvent(w.res, event);
  }

  function store(t: ResourceType, object: FakeObject, namespace: string | undefined, existing: FakeObject | undefined): FakeObject {
    revision++;
    const meta = { ...(object.metadata ?? {}) };
    meta.resourceVersion = String(revision);
    if (namespace) meta.namespace = namespace;
    if (existing) {
      meta.uid = existing.metadata?.uid ?? null;
      meta.creationTimestamp = existing.metadata?.creationTimestamp ?? null;
      meta.generation = (Number(existing.metadata?.generation ?? 1)) + (JSON.stringify(existing.spec) === JSON.stringify(object.spec) ? 0 : 1);
    } else {
      meta.uid = `00000000-0000-4000-8000-${String(++uid).padStart(12, '0')}`;
      meta.creationTimestamp = rfc3339(now());
      meta.generation = 1;
    }
    const stored: FakeObject = { ...object, apiVersion: apiVersionOf(t), kind: t.kind, metadata: meta };
    objects.set(keyOf(t.plural, String(meta.name), namespace), stored);
    emit(existing ? 'MODIFIED' : 'ADDED', t, stored, namespace);
    return stored;
  }

  function remove(t: ResourceType, name: string, namespace?: string): FakeObject | undefined {
    const key = keyOf(t.plural, name, namespace);
    const existing = objects.get(key);
    if (!existing) return undefined;
    objects.delete(key);
    revision++;
    const gone: FakeObject = { ...existing, metadata: { ...(existing.metadata ?? {}), resourceVersion: String(revision) } };
    emit('DELETED', t, gone, namespace);
    return gone;
  }

  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        sendStatus(res, 400, 'BadRequest', 'invalid JSON body');
        return;
      }
      const credentials = credentialsOf(req);
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams),
        contentType: req.headers['content-type'], body,
        ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}),
        ...(credentials.clientCertificate ? { clientCertificate: credentials.clientCertificate } : {}),
      };
      requests.push(recorded);
      if (failing > 0) {
        failing--;
        sendStatus(res, 503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
        return;
      }
      if (options.authenticate && !options.authenticate(credentials)) {
        sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
        return;
      }
      try {
        handle(req.method ?? 'GET', url, req.headers['content-type'] ?? '', body, res, recorded);
      } catch (error) {
        sendStatus(res, 500, 'InternalError', (error as Error).message);
      }
    });
  };
  const tls = options.tls;
  const server: http.Server = tls
    ? https.createServer({ key: tls.key, cert: tls.cert, ca: tls.clientCa, requestCert: tls.clientCa !== undefined, rejectUnauthorized: false }, listener)
    : http.createServer(listener);

  function handle(method: string, url: URL, contentType: string, body: unknown, res: http.ServerResponse, recorded: RecordedRequest): void {
    const route = parsePath(url.pathname);
    const t = route && types.get(route.plural);
    if (!route || !t || route.group !== t.group || route.version !== t.version
      // A namespaced kind without a namespace is only the all-namespaces collection (list/watch), as on a real server.
      || (route.namespace ? !t.namespaced : t.namespaced && (route.name !== undefined || method !== 'GET'))) {
      sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource');
      return;
    }
    const notFound = (name: string): void => sendStatus(res, 404, 'NotFound', `${qualified(t)} "${name}" not found`, { name, group: t.group, kind: t.plural });
    const conflict = (name: string): void => sendStatus(res, 409, 'Conflict',
      `Operation cannot be fulfilled on ${qualified(t)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name, group: t.group, kind: t.plural });

    if (!route.name) {
      if (method === 'GET' && (url.searchParams.get('watch') === '1' || url.searchParams.get('watch') === 'true')) {
        startWatch(t, route.namespace, url, res, recorded);
        return;
      }
      if (method === 'GET') {
        const items = [...objects.entries()]
          .filter(([key]) => key.startsWith(collectionPrefix(t.plural, route.namespace)))
          .map(([, o]) => {
            const item: FakeObject = { ...o };
            delete item.kind;
            delete item.apiVersion;
            return item;
          });
        send(res, 200, { kind: `${t.kind}List`, apiVersion: apiVersionOf(t), metadata: { resourceVersion: String(revision) }, items });
        return;
      }
      if (method === 'POST') {
        const object = body as FakeObject;
        const name = object?.metadata?.name;
        if (typeof name !== 'string' || name === '') {
          sendStatus(res, 422, 'Invalid', `${t.kind} "" is invalid: metadata.name: Required value: name or generateName is required`);
          return;
        }
        if (objects.has(keyOf(t.plural, name, route.namespace))) {
          sendStatus(res, 409, 'AlreadyExists', `${qualified(t)} "${name}" already exists`, { name, group: t.group, kind: t.plural });
          return;
        }
        const { resourceVersion: _ignored, ...meta } = object.metadata ?? {};
        send(res, 201, store(t, { ...object, metadata: meta }, route.namespace, undefined));
        return;
      }
      sendStatus(res, 405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
      return;
    }

    const key = keyOf(t.plural, route.name, route.namespace);
    const existing = objects.get(key);
    const subresource = route.subresource;
    if (t.plural === 'serviceaccounts' && subresource === 'token') {
      if (method !== 'POST') sendStatus(res, 405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
      else if (!existing) notFound(route.name);
      else tokenRequest(route.name, route.namespace ?? '', body, res);
      return;
    }
    if (subresource && subresource !== 'status') {
      sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource');
      return;
    }
    switch (method) {
      case 'GET':
        if (!existing) notFound(route.name);
        else send(res, 200, existing);
        return;
      case 'PUT': {
        if (!existing) {
          notFound(route.name);
          return;
        }
        const object = body as FakeObject;
        const rv = object?.metadata?.resourceVersion;
        if (rv === undefined || rv === null || rv === '') {
          sendStatus(res, 422, 'Invalid', `${t.kind}.${t.group || 'core'} "${route.name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`);
          return;
        }
        if (rv !== existing.metadata?.resourceVersion) {
          conflict(route.name);
          return;
        }
        send(res, 200, store(t, bySubresource(t, existing, object, subresource), route.namespace, existing));
        return;
      }
      case 'PATCH': {
        if (!existing) {
          notFound(route.name);
          return;
        }
        let patched: FakeObject;
        if (contentType.startsWith('application/merge-patch+json')) {
          patched = mergePatch(existing, body as Json, '', false) as FakeObject;
        } else if (contentType.startsWith('application/strategic-merge-patch+json') && t.group === '') {
          patched = mergePatch(existing, body as Json, '', true) as FakeObject;
        } else {
          sendStatus(res, 415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json${t.group === '' ? ', application/strategic-merge-patch+json' : ''}`);
          return;
        }
        const rv = (body as FakeObject)?.metadata?.resourceVersion;
        if (rv !== undefined && rv !== existing.metadata?.resourceVersion) {
          conflict(route.name);
          return;
        }
        const next = bySubresource(t, existing, patched, subresource);
        if (JSON.stringify(next) === JSON.stringify(existing)) {
          send(res, 200, existing); // a no-op patch does not bump the resourceVersion
          return;
        }
        send(res, 200, store(t, next, route.namespace, existing));
        return;
      }
      case 'DELETE': {
        if (!existing) {
          notFound(route.name);
          return;
        }
        const preconditions = (body as { preconditions?: { resourceVersion?: string; uid?: string } } | undefined)?.preconditions;
        if (preconditions?.resourceVersion !== undefined && preconditions.resourceVersion !== existing.metadata?.resourceVersion) {
          sendStatus(res, 409, 'Conflict', `Operation cannot be fulfilled on ${qualified(t)} "${route.name}": Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${String(existing.metadata?.resourceVersion)}`, { name: route.name, group: t.group, kind: t.plural });
          return;
        }
        const gone = remove(t, route.name, route.namespace)!;
        if (t.group === '') send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: route.name, kind: t.plural, uid: gone.metadata?.uid ?? null } });
        else send(res, 200, gone);
        return;
      }
      default:
        sendStatus(res, 405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    }
  }

  function tokenRequest(name: string, namespace: string, body: unknown, res: http.ServerResponse): void {
    const request = (body ?? {}) as { apiVersion?: string; kind?: string; spec?: { audiences?: string[]; expirationSeconds?: number } };
    if ((request.kind !== undefined && request.kind !== 'TokenRequest') || (request.apiVersion !== undefined && request.apiVersion !== 'authentication.k8s.io/v1')) {
      sendStatus(res, 400, 'BadRequest', `the API version in the data (${String(request.apiVersion)}) does not match the expected API version (authentication.k8s.io/v1)`);
      return;
    }
    const asked = request.spec?.expirationSeconds ?? 3600;
    const invalid = (why: string): void => sendStatus(res, 422, 'Invalid',
      `TokenRequest.authentication.k8s.io "${name}" is invalid: spec.expirationSeconds: Invalid value: ${asked}: ${why}`,
      { name, group: 'authentication.k8s.io', kind: 'TokenRequest' });
    if (asked < 600) return invalid('may not specify a duration less than 10 minutes');
    if (asked > 2 ** 32) return invalid('may not specify a duration larger than 2^32 seconds');
    const seconds = maxTokenSeconds !== undefined ? Math.min(asked, maxTokenSeconds) : asked;
    const issuedAt = Math.floor(now() / 1000);
    const audiences = request.spec?.audiences?.length ? request.spec.audiences : [API_AUDIENCE];
    const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const token = [
      b64({ alg: 'RS256', kid: 'fake' }),
      b64({ aud: audiences, exp: issuedAt + seconds, iat: issuedAt, iss: API_AUDIENCE, jti: String(issuedTokens.length + 1), sub: `system:serviceaccount:${namespace}:${name}` }),
      b64(`signature-${issuedTokens.length + 1}`),
    ].join('.');
    const expirationTimestamp = rfc3339((issuedAt + seconds) * 1000);
    issuedTokens.push({ namespace, serviceAccount: name, token, expirationTimestamp });
    send(res, 201, {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name, namespace, creationTimestamp: null },
      spec: { audiences, expirationSeconds: seconds, boundObjectRef: null },
      status: { token, expirationTimestamp },
    });
  }

  /** Node-style subresource rules: the main resource keeps status, `/status` keeps spec. */
  function bySubresource(t: ResourceType, existing: FakeObject, next: FakeObject, subresource?: string): FakeObject {
    if (t.plural !== 'nodes') return next;
    const out: FakeObject = { ...next };
    if (subresource === 'status') {
      if (existing.spec === undefined) delete out.spec;
      else out.spec = existing.spec;
    } else if (existing.status === undefined) delete out.status;
    else out.status = existing.status;
    return out;
  }

  function startWatch(t: ResourceType, namespace: string | undefined, url: URL, res: http.ServerResponse, recorded: RecordedRequest): void {
    const rvText = url.searchParams.get('resourceVersion') ?? '';
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const w: Watch = { plural: t.plural, namespace, res, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true' };
    if (rvText === '' || rvText === '0') {
      for (const [key, object] of objects) {
        if (key.startsWith(collectionPrefix(t.plural, namespace))) writeEvent(res, { rv: revision, type: 'ADDED', plural: t.plural, namespace, object });
      }
    } else {
      const rv = Number(rvText);
      if (!Number.isInteger(rv) || rv < compactedAt) {
        res.write(`${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${rvText} (${compactedAt})`) })}\n`);
        res.end();
        return;
      }
      for (const event of history) if (event.rv > rv && matches(w, event)) writeEvent(res, event);
    }
    watches.add(w);
    const waiters = watchWaiters;
    watchWaiters = [];
    for (const resolve of waiters) resolve(recorded);
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => {
      watches.delete(w);
      if (timer) clearTimeout(timer);
    });
  }

  function matches(w: Watch, event: Event): boolean {
    return w.plural === event.plural && (w.namespace === undefined || w.namespace === (event.namespace ?? ''));
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    defineResource: (resource) => {
      types.set(resource.plural, resource);
    },
    upsert: (plural, object, namespace) => {
      const t = types.get(plural);
      if (!t) throw new Error(`fake-kube-api: unknown resource ${plural}`);
      const name = String(object.metadata?.name ?? '');
      return store(t, object, namespace, objects.get(keyOf(plural, name, namespace)));
    },
    remove: (plural, name, namespace) => {
      const t = types.get(plural);
      if (!t) throw new Error(`fake-kube-api: unknown resource ${plural}`);
      return remove(t, name, namespace) !== undefined;
    },
    get: (plural, name, namespace) => objects.get(keyOf(plural, name, namespace)),
    compact: () => {
      compactedAt = revision;
      history.length = 0;
    },
    bookmark: () => {
      for (const w of watches) {
        if (!w.bookmarks) continue;
        const t = types.get(w.plural)!;
        w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: t.kind, apiVersion: apiVersionOf(t), metadata: { resourceVersion: String(revision) } } })}\n`);
      }
    },
    dropWatches: () => {
      for (const w of [...watches]) {
        w.res.end();
        w.res.socket?.destroy();
      }
      watches.clear();
    },
    openWatches: () => watches.size,
    setTokenLifetime: (maxSeconds) => {
      maxTokenSeconds = maxSeconds;
    },
    failNext: (count) => {
      failing = count;
    },
    issuedTokens,
    nextWatch: () => new Promise<RecordedRequest>((resolve) => watchWaiters.push(resolve)),
    setServingCertificate: (next) => {
      if (!tls) throw new Error('fake-kube-api: setServingCertificate needs the tls option');
      (server as https.Server).setSecureContext({ key: next.key, cert: next.cert, ca: tls.clientCa });
      server.closeIdleConnections();
    },
    close: async () => {
      for (const w of watches) w.res.socket?.destroy();
      watches.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The bearer token and the verified client certificate's subject of a request. */
function credentialsOf(req: http.IncomingMessage): RequestCredentials {
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  const socket = req.socket as Partial<TLSSocket>;
  let clientCertificate: RequestCredentials['clientCertificate'];
  if (socket.encrypted && socket.authorized) {
    const subject = socket.getPeerCertificate?.().subject;
    if (subject?.CN) {
      const list = (value: string | string[] | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
      clientCertificate = { commonName: list(subject.CN)[0], organizations: list(subject.O) };
    }
  }
  return { ...(bearer ? { bearerToken: bearer[1] } : {}), ...(clientCertificate ? { clientCertificate } : {}) };
}

/** metav1.Time: RFC 3339 in UTC, whole seconds. */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

function writeEvent(res: http.ServerResponse, event: Event): void {
  res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
}

function parsePath(path: string): { group: string; version: string; namespace?: string; plural: string; name?: string; subresource?: string } | undefined {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  let group = '';
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    version = parts[1];
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1];
    version = parts[2];
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length < 1 || rest.length > 3) return undefined;
  return { group, version, namespace, plural: rest[0], name: rest[1], subresource: rest[2] };
}

function status(code: number, reason: string, message: string, details?: { [key: string]: Json }): { [key: string]: Json } {
  const out: { [key: string]: Json } = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details) out.details = details;
  return out;
}

function sendStatus(res: http.ServerResponse, code: number, reason: string, message: string, details?: { [key: string]: Json }): void {
  send(res, code, status(code, reason, message, details));
}

function send(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** RFC 7386 merge patch; with `strategic`, lists with a known merge key merge element-wise. */
function mergePatch(target: Json | undefined, patch: Json, path: string, strategic: boolean): Json {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
    if (strategic && Array.isArray(patch) && Array.isArray(target) && MERGE_KEYS[path]) {
      return mergeList(target, patch, MERGE_KEYS[path]);
    }
    return clone(patch);
  }
  const base: { [key: string]: Json } = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (strategic && key.startsWith('$')) continue; // directives such as $setElementOrder are ordering hints
    if (value === null) delete base[key];
    else base[key] = mergePatch(base[key], value, path ? `${path}.${key}` : key, strategic);
  }
  return base;
}

function mergeList(target: Json[], patch: Json[], mergeKey: string): Json[] {
  const out = target.map((item) => clone(item));
  for (const item of patch) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) continue;
    const index = out.findIndex((existing) => existing !== null && typeof existing === 'object' && !Array.isArray(existing) && existing[mergeKey] === item[mergeKey]);
    if (item.$patch === 'delete') {
      if (index >= 0) out.splice(index, 1);
    } else if (index >= 0) {
      out[index] = mergePatch(out[index], item, '', true);
    } else {
      out.push(clone(item));
    }
  }
  return out;
}

/** Store keys are `<plural>/<namespace>/<name>`; without a namespace the prefix covers every namespace. */
function collectionPrefix(plural: string, namespace: string | undefined): string {
  return namespace ? `${plural}/${namespace}/` : `${plural}/`;
}
