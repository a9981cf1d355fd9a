import { SessionAction, SessionFsm, collisionWinner, restrictToFamilies } from '../../../lib/dataplane/bgp/session/fsm';
import { OpenMessage, UpdateMessage } from '../../../lib/dataplane/bgp/wire';
import { endOfRib } from '../../../lib/dataplane/bgp/wire/update';

const config = { localAs: 64512, peerAs: 64512, routerId: '10.0.0.1', connectRetryTime: 5, families: ['ipv4', 'ipv6'] as const, gracefulRestartTime: 120 };

function peerOpen(over: Partial<OpenMessage> = {}, caps: Partial<OpenMessage['capabilities']> = {}): OpenMessage {
  return {
    type: 'open', version: 4, myAs: 64512, holdTime: 30, routerId: '10.0.0.2',
    capabilities: { multiprotocol: [{ afi: 1, safi: 1 }], fourOctetAs: 64512, routeRefresh: true, unknown: [], gracefulRestart: { restartTime: 60, restarting: false, families: [{ afi: 1, safi: 1, forwardingPreserved: true }] }, ...caps },
    ...over,
  };
}

const types = (actions: SessionAction[]) => actions.map((a) => (a.type === 'send' ? `send:${a.message.type}` : a.type === 'set-timer' || a.type === 'clear-timer' ? `${a.type}:${a.timer}` : a.type));

function establish(fsm: SessionFsm, open = peerOpen()): SessionAction[] {
  fsm.handle({ type: 'start' });
  fsm.handle({ type: 'tcp-connected' });
  fsm.handle({ type: 'message', message: open });
  return fsm.handle({ type: 'message', message: { type: 'keepalive' } });
}

describe('session FSM (RFC 4271 §8)', () => {
  it('active side: Idle → Connect → OpenSent → OpenConfirm → Established, negotiating the smaller hold time', () => {
    const fsm = new SessionFsm(config);
    expect(types(fsm.handle({ type: 'start' }))).toEqual(['set-timer:connect-retry', 'connect']);
    expect(fsm.state).toBe('Connect');
    const opened = fsm.handle({ type: 'tcp-connected' });
    expect(types(opened)).toEqual(['clear-timer:connect-retry', 'send:open', 'set-timer:hold']);
    expect(fsm.state).toBe('OpenSent');
    const open = opened.find((a) => a.type === 'send');
    expect(open?.type === 'send' && open.message.type === 'open' && open.message.capabilities.gracefulRestart?.restartTime).toBe(120);
    expect(types(fsm.handle({ type: 'message', message: peerOpen() }))).toEqual(['send:keepalive', 'set-timer:hold', 'set-timer:keepalive']);
    expect(fsm.state).toBe('OpenConfirm');
    const up = fsm.handle({ type: 'message', message: { type: 'keepalive' } });
    expect(fsm.state).toBe('Established');
    const est = up.find((a) => a.type === 'established');
    expect(est?.type === 'established' && est.negotiated).toMatchObject({ holdTime: 30, keepaliveTime: 10, families: ['ipv4'], fourOctetAs: true, peerAs: 64512 });
  });

  it('passive side waits in Active and retries nothing itself', () => {
    const fsm = new SessionFsm({ ...config, passive: true });
    expect(types(fsm.handle({ type: 'start' }))).toEqual(['set-timer:connect-retry']);
    expect(fsm.state).toBe('Active');
    expect(types(fsm.handle({ type: 'timer', timer: 'connect-retry' }))).toEqual(['set-timer:connect-retry']);
    fsm.handle({ type: 'tcp-connected' });
    expect(fsm.state).toBe('OpenSent');
  });

  it('connect failure goes to Active, and connect-retry expiry connects again', () => {
    const fsm = new SessionFsm(config);
    fsm.handle({ type: 'start' });
    fsm.handle({ type: 'tcp-failed' });
    expect(fsm.state).toBe('Active');
    expect(types(fsm.handle({ type: 'timer', timer: 'connect-retry' }))).toEqual(['set-timer:connect-retry', 'disconnect', 'connect']);
    expect(fsm.state).toBe('Connect');
  });

  it('wrong peer AS → NOTIFICATION 2/2 and Idle with an idle-hold restart', () => {
    const fsm = new SessionFsm(config);
    fsm.handle({ type: 'start' });
    fsm.handle({ type: 'tcp-connected' });
    const out = fsm.handle({ type: 'message', message: peerOpen({ myAs: 65000 }, { fourOctetAs: 65000 }) });
    expect(out[0]).toMatchObject({ type: 'send', message: { type: 'notification', code: 2, subcode: 2 } });
    expect(fsm.state).toBe('Idle');
    expect(types(out)).toContain('set-timer:idle-hold');
    expect(types(fsm.handle({ type: 'timer', timer: 'idle-hold' }))).toEqual(['set-timer:connect-retry', 'connect']);
  });

  it('same router id on iBGP → 2/3; unexpected UPDATE in OpenSent → FSM error 5/1', () => {
    const a = new SessionFsm(config);
    a.handle({ type: 'start' }); a.handle({ type: 'tcp-connected' });
    expect(a.handle({ type: 'message', message: peerOpen({ routerId: '10.0.0.1' }) })[0]).toMatchObject({ message: { code: 2, subcode: 3 } });
    const b = new SessionFsm(config);
    b.handle({ type: 'start' }); b.handle({ type: 'tcp-connected' });
    expect(b.handle({ type: 'message', message: { type: 'update', withdrawn: [], attributes: {}, nlri: [] } })[0]).toMatchObject({ message: { code: 5, subcode: 1 } });
  });

  it('Established: UPDATEs pass to the RIB and restart the hold timer; keepalive timer sends KEEPALIVE', () => {
    const fsm = new SessionFsm(config);
    establish(fsm);
    const update = { type: 'update' as const, withdrawn: [], attributes: {}, nlri: [] };
    expect(types(fsm.handle({ type: 'message', message: update }))).toEqual(['set-timer:hold', 'update']);
    expect(types(fsm.handle({ type: 'timer', timer: 'keepalive' }))).toEqual(['send:keepalive', 'set-timer:keepalive']);
    expect(types(fsm.handle({ type: 'message', message: { type: 'route-refresh', afi: 1, safi: 1 } }))).toEqual(['set-timer:hold', 'route-refresh']);
  });

  it('hold timer expiry sends 4/0 and the routes are not kept (a NOTIFICATION ended it)', () => {
    const fsm = new SessionFsm(config);
    establish(fsm);
    const out = fsm.handle({ type: 'timer', timer: 'hold' });
    expect(out[0]).toMatchObject({ type: 'send', message: { type: 'notification', code: 4, subcode: 0 } });
    expect(out.find((a) => a.type === 'down')).toMatchObject({ graceful: false });
  });

  it('TCP loss from a graceful-restart peer keeps its routes as stale (RFC 4724); from another peer it does not', () => {
    const gr = new SessionFsm(config);
    establish(gr);
    expect(gr.handle({ type: 'tcp-closed' }).find((a) => a.type === 'down')).toMatchObject({ graceful: true });
    const plain = new SessionFsm(config);
    establish(plain, peerOpen({}, { gracefulRestart: undefined }));
    expect(plain.handle({ type: 'tcp-closed' }).find((a) => a.type === 'down')).toMatchObject({ graceful: false });
  });

  it('graceful restart: families listed in the capability are retained, the F bit says which survive re-establishment', () => {
    const fsm = new SessionFsm(config);
    const up = establish(fsm, peerOpen({}, {
      multiprotocol: [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }],
      gracefulRestart: { restartTime: 33, restarting: true, families: [{ afi: 1, safi: 1, forwardingPreserved: false }, { afi: 2, safi: 1, forwardingPreserved: true }] },
    }));
    const est = up.find((a) => a.type === 'established');
    expect(est?.type === 'established' && est.negotiated.peerGracefulRestart).toEqual({ restartTime: 33, restarting: true, families: ['ipv4', 'ipv6'], preserved: ['ipv6'] });
  });

  it('a decode error in Established sends that NOTIFICATION', () => {
    const fsm = new SessionFsm(config);
    establish(fsm);
    const out = fsm.handle({ type: 'decode-error', error: { code: 3, subcode: 1, data: new Uint8Array(0), reason: 'x' } });
    expect(out[0]).toMatchObject({ type: 'send', message: { code: 3, subcode: 1 } });
    expect(fsm.state).toBe('Idle');
  });

  it('hold time 0 negotiates no keepalives', () => {
    const fsm = new SessionFsm(config);
    fsm.handle({ type: 'start' }); fsm.handle({ type: 'tcp-connected' });
    expect(types(fsm.handle({ type: 'message', message: peerOpen({ holdTime: 0 }) }))).toEqual(['send:keepalive', 'clear-timer:hold', 'clear-timer:keepalive']);
  });

  it('stop sends Cease/administrative shutdown', () => {
    const fsm = new SessionFsm(config);
    establish(fsm);
    expect(fsm.handle({ type: 'stop' })[0]).toMatchObject({ message: { code: 6, subcode: 2 } });
    expect(fsm.state).toBe('Idle');
  });

  it('collisions keep the connection opened by the higher BGP identifier; an unknown identifier (IPv6 peer before its OPEN) keeps ours', () => {
    expect(collisionWinner('10.0.0.9', '10.0.0.10')).toBe('inbound');
    expect(collisionWinner('10.0.1.1', '10.0.0.200')).toBe('outbound');
    expect(collisionWinner('10.0.0.1', 'fd00::2')).toBe('outbound');
    expect(collisionWinner('10.0.0.1', undefined)).toBe('outbound');
  });
});

describe('address families per session (Calico: IPv4 sessions carry IPv4, IPv6 sessions IPv6)', () => {
  const v6Session = { ...config, families: ['ipv6'] as const };
  const v6Open = peerOpen({}, { multiprotocol: [{ afi: 2, safi: 1 }], gracefulRestart: { restartTime: 60, restarting: false, families: [{ afi: 2, safi: 1, forwardingPreserved: true }] } });
  const v4Update: UpdateMessage = { type: 'update', withdrawn: ['10.9.0.0/24'], attributes: { origin: 0, asPath: [], nextHop: '10.0.0.2' }, nlri: ['10.8.0.0/24'] };
  const v6Reach = { afi: 2, safi: 1, nextHops: ['fd00::2', 'fe80::2'], nlri: ['fd00:10:128::/122'] };
  const v6Update: UpdateMessage = { type: 'update', withdrawn: [], attributes: { origin: 0, asPath: [] }, nlri: [], mpReach: v6Reach };

  it('an IPv6 session offers only IPv6 unicast in its OPEN and in its graceful-restart capability', () => {
    const open = new SessionFsm(v6Session).open();
    expect(open.capabilities.multiprotocol).toEqual([{ afi: 2, safi: 1 }]);
    expect(open.capabilities.gracefulRestart?.families).toEqual([{ afi: 2, safi: 1, forwardingPreserved: true }]);
    expect(open.routerId).toBe('10.0.0.1'); // the router id stays the node's IPv4 address, as Calico's bird6.cfg has it
    const up = establish(new SessionFsm(v6Session), v6Open).find((a) => a.type === 'established');
    expect(up?.type === 'established' && up.negotiated.families).toEqual(['ipv6']);
  });

  it('a peer offering no family the session carries is refused with 2/7 (unsupported capability: ours in the data)', () => {
    const fsm = new SessionFsm(v6Session);
    fsm.handle({ type: 'start' }); fsm.handle({ type: 'tcp-connected' });
    const out = fsm.handle({ type: 'message', message: peerOpen() }); // IPv4 unicast only
    expect(out[0]).toMatchObject({ type: 'send', message: { type: 'notification', code: 2, subcode: 7, data: Uint8Array.from([1, 4, 0, 2, 0, 1]) } });
    expect(fsm.state).toBe('Idle');
    // No Multiprotocol capability at all means IPv4 only (RFC 4760 §8): refused too.
    const bare = new SessionFsm(v6Session);
    bare.handle({ type: 'start' }); bare.handle({ type: 'tcp-connected' });
    expect(bare.handle({ type: 'message', message: peerOpen({}, { multiprotocol: [] }) })[0]).toMatchObject({ message: { code: 2, subcode: 7 } });
  });

  it('what arrives for a family not negotiated is dropped and reported; End-of-RIB of such a family never passes for an IPv4 one', () => {
    const v6 = new SessionFsm(v6Session);
    establish(v6, v6Open);
    expect(types(v6.handle({ type: 'message', message: v6Update }))).toEqual(['set-timer:hold', 'update']);
    const mixed = v6.handle({ type: 'message', message: { ...v4Update, mpReach: v6Reach } });
    expect(types(mixed)).toEqual(['set-timer:hold', 'ignored', 'update']);
    expect(mixed.find((a) => a.type === 'update')).toMatchObject({ message: { withdrawn: [], nlri: [], mpReach: v6Reach } });
    expect(mixed.find((a) => a.type === 'ignored')).toMatchObject({ reason: expect.stringContaining('IPv4 NLRI (1 announced, 1 withdrawn)') });
    expect(types(v6.handle({ type: 'message', message: v4Update }))).toEqual(['set-timer:hold', 'ignored']);
    expect(types(v6.handle({ type: 'message', message: endOfRib('ipv4') }))).toEqual(['set-timer:hold']);
    expect(types(v6.handle({ type: 'message', message: endOfRib('ipv6') }))).toEqual(['set-timer:hold', 'update']);
    expect(types(v6.handle({ type: 'message', message: { type: 'route-refresh', afi: 1, safi: 1 } }))).toEqual(['set-timer:hold']);
    expect(types(v6.handle({ type: 'message', message: { type: 'route-refresh', afi: 2, safi: 1 } }))).toEqual(['set-timer:hold', 'route-refresh']);

    const v4 = new SessionFsm({ ...config, families: ['ipv4'] });
    establish(v4, peerOpen({}, { multiprotocol: [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }] }));
    const stripped = v4.handle({ type: 'message', message: { ...v4Update, mpReach: v6Reach } });
    expect(stripped.find((a) => a.type === 'update')).toMatchObject({ message: { nlri: ['10.8.0.0/24'], withdrawn: ['10.9.0.0/24'] } });
    expect(stripped.find((a) => a.type === 'update' && a.message.mpReach)).toBeUndefined();
    expect(types(v4.handle({ type: 'message', message: endOfRib('ipv6') }))).toEqual(['set-timer:hold']);
  });

  it('restrictToFamilies keeps a message of the session\'s families as it is', () => {
    expect(restrictToFamilies(v4Update, ['ipv4']).update).toBe(v4Update);
    expect(restrictToFamilies(v6Update, ['ipv6']).update).toBe(v6Update);
    expect(restrictToFamilies({ ...v6Update, mpReach: undefined, mpUnreach: { afi: 2, safi: 1, withdrawn: ['fd00::/64'] } }, ['ipv4'])).toEqual({
      ignored: 'ignored MP_UNREACH_NLRI AFI 2/SAFI 1 (1 prefixes): not negotiated on this session (ipv4)',
    });
  });
});
