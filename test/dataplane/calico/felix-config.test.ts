import {
  FELIX_DEFAULTS, FelixSettings, effectiveFelixSettings, felixLogLevel, parseFelixConfiguration, parseFelixEnv, parseGoDuration,
} from '../../../lib/dataplane/calico/felix-config';

const messages = (r: { errors: readonly Error[] }) => r.errors.map((e) => e.message);

describe('Go durations, as the datastore stores them', () => {
  test.each([
    ['90s', 90], ['5m', 300], ['1m30s', 90], ['1.5h', 5400], ['300ms', 0.3], ['0', 0], ['2h45m', 9900], ['1h0m0s', 3600], ['-1s', -1], ['+2s', 2], ['.5s', 0.5],
  ])('%s is %d s', (text, s) => expect(parseGoDuration(text)).toBeCloseTo(s, 9));

  test.each(['', '90', 's', '1x', '1m 30s', '1.s5', '5 m', 'm5', '--1s'])('%j is not a duration', (text) => expect(parseGoDuration(text)).toBeUndefined());
});

describe('one FelixConfiguration spec', () => {
  test('what the kit renders reads back as typed settings, nothing ignored', () => {
    const r = parseFelixConfiguration({
      logSeverityScreen: 'Info', defaultEndpointToHostAction: 'Accept', prometheusMetricsEnabled: true, prometheusMetricsPort: 9091,
      vxlanPort: 4789, vxlanVNI: 4096, vxlanMTU: 1450, routeRefreshInterval: '1m30s', nftablesRefreshInterval: '3m',
    }, 'felixconfigurations/default');
    expect(r.errors).toEqual([]);
    expect(r.ignored).toEqual([]);
    expect(r.settings).toEqual({
      logSeverityScreen: 'Info', defaultEndpointToHostAction: 'Accept', prometheusMetricsEnabled: true, prometheusMetricsPort: 9091,
      vxlanPort: 4789, vxlanVni: 4096, vxlanMtu: 1450, routeRefreshIntervalSeconds: 90, nftablesRefreshIntervalSeconds: 180,
    });
  });

  test('a bad port, VNI, duration or enum is one line naming the field, the value and what is expected; the rest still reads', () => {
    const r = parseFelixConfiguration({
      vxlanPort: 70000, vxlanVNI: '4096', routeRefreshInterval: '90', nftablesRefreshInterval: 'soon', healthPort: 9099.5,
      defaultEndpointToHostAction: 'Reject', ipForwarding: 'On', logSeverityScreen: 'Warning',
    }, 'felixconfigurations/default');
    expect(messages(r)).toEqual([
      'felixconfigurations/default.vxlanPort: 70000 is not valid; expected a UDP port from 1 to 65535',
      'felixconfigurations/default.vxlanVNI: "4096" is not valid; expected an integer',
      'felixconfigurations/default.routeRefreshInterval: "90" is not valid; expected a Go duration such as 90s, 5m or 1m30s',
      'felixconfigurations/default.nftablesRefreshInterval: "soon" is not valid; expected a Go duration such as 90s, 5m or 1m30s',
      'felixconfigurations/default.healthPort: 9099.5 is not valid; expected an integer',
      'felixconfigurations/default.defaultEndpointToHostAction: "Reject" is not valid; expected one of Drop, Return, Accept',
      'felixconfigurations/default.ipForwarding: "On" is not valid; expected one of Enabled, Disabled',
    ]);
    expect(r.errors.every((e) => !e.message.includes('\n'))).toBe(true);
    expect(r.settings).toEqual({ logSeverityScreen: 'Warning' });
  });

  test('0s route refresh (Felix: never) is refused: the agent\'s liveness counts refresh periods', () => {
    expect(messages(parseFelixConfiguration({ routeRefreshInterval: '0s' }, 'fc'))).toEqual([
      'fc.routeRefreshInterval: "0s" is not valid; expected at least 1s (0, Felix\'s "never", would fail the agent\'s liveness: it allows three missed refreshes)',
    ]);
    expect(parseFelixConfiguration({ nftablesRefreshInterval: '0s' }, 'fc').settings).toEqual({ nftablesRefreshIntervalSeconds: 0 });
    expect(messages(parseFelixConfiguration({ iptablesRefreshInterval: '-5s' }, 'fc'))).toEqual(['fc.iptablesRefreshInterval: "-5s" is not valid; expected at least 0s (0: no periodic refresh)']);
  });

  test('unknown and unimplemented fields are ignored and listed, as Felix ignores unknown parameters', () => {
    const r = parseFelixConfiguration({ bpfEnabled: true, wireguardEnabled: true, someFutureField: 1, vxlanVNI: 5000 }, 'fc');
    expect(r.errors).toEqual([]);
    expect(r.ignored).toEqual(['fc.bpfEnabled', 'fc.wireguardEnabled', 'fc.someFutureField']);
    expect(r.settings).toEqual({ vxlanVni: 5000 });
  });

  test('fields the kit implements one value of: that value passes, any other is an error', () => {
    expect(parseFelixConfiguration({ interfacePrefix: 'cali', ipv6Support: true }, 'fc')).toEqual({ settings: {}, errors: [], ignored: [] });
    expect(messages(parseFelixConfiguration({ interfacePrefix: 'cali,tap', ipv6Support: false }, 'fc'))).toEqual([
      'fc.interfacePrefix: "cali,tap" is not valid; expected cali (the kit\'s CNI plugin names host veths cali<hash> and the policy agent matches exactly those)',
      'fc.ipv6Support: false is not valid; expected true (the kit\'s policy agent always enforces IPv6 as well as IPv4)',
    ]);
  });

  test('enums are case-insensitive (Felix) and come back in the CRD\'s spelling; unset values are skipped', () => {
    expect(parseFelixConfiguration({ logSeverityScreen: 'debug', defaultEndpointToHostAction: 'RETURN', ipForwarding: 'disabled', healthHost: '' }, 'fc').settings)
      .toEqual({ logSeverityScreen: 'Debug', defaultEndpointToHostAction: 'Return', ipForwarding: false });
  });

  test('a spec that is not an object is one error; none at all is nothing', () => {
    expect(messages(parseFelixConfiguration('vxlanVNI: 1', 'fc'))).toEqual(['fc: "vxlanVNI: 1" is not valid; expected a FelixConfiguration spec (a JSON object)']);
    expect(parseFelixConfiguration(undefined, 'fc')).toEqual({ settings: {}, errors: [], ignored: [] });
  });

  test('host addresses as Felix checks them; the metrics host may be empty (every address)', () => {
    expect(parseFelixConfiguration({ healthHost: '127.0.0.1', prometheusMetricsHost: '' }, 'fc').settings).toEqual({ healthHost: '127.0.0.1' });
    expect(messages(parseFelixConfiguration({ healthHost: 'a b' }, 'fc'))).toEqual([
      'fc.healthHost: "a b" is not valid; expected a host name or address (letters, digits, ":", ".", "_", "+", "-"; at most 64)',
    ]);
  });

  test('VXLAN MTU: 0 is automatic, too small is refused', () => {
    expect(parseFelixConfiguration({ vxlanMTU: 0 }, 'fc').settings).toEqual({ vxlanMtu: 0 });
    expect(messages(parseFelixConfiguration({ vxlanMTU: 10 }, 'fc'))).toEqual(['fc.vxlanMTU: 10 is not valid; expected 0 (uplink MTU − 50) or an MTU from 68 to 65535']);
  });

  test('IPv6 VXLAN MTU (vxlanMTUV6): 0 is automatic, below IPv6\'s 1280 refused; the IPv6 device has no VNI or port of its own', () => {
    expect(parseFelixConfiguration({ vxlanMTUV6: 0 }, 'fc').settings).toEqual({ vxlanMtuV6: 0 });
    expect(parseFelixConfiguration({ vxlanMTUV6: 1430 }, 'fc').settings).toEqual({ vxlanMtuV6: 1430 });
    expect(parseFelixEnv({ FELIX_VXLANMTUV6: '8930' }).settings).toEqual({ vxlanMtuV6: 8930 });
    expect(messages(parseFelixConfiguration({ vxlanMTUV6: 1200 }, 'fc'))).toEqual(['fc.vxlanMTUV6: 1200 is not valid; expected 0 (IPv6 uplink MTU − 70) or an MTU from 1280 (IPv6\'s minimum) to 65535']);
    // Felix has no vxlanVNIV6 / vxlanPortV6 (vxlan-v6.calico uses vxlanVNI and vxlanPort): unknown, so ignored.
    expect(parseFelixConfiguration({ vxlanVNIV6: 6096, vxlanPortV6: 4789 }, 'fc').ignored).toEqual(['fc.vxlanVNIV6', 'fc.vxlanPortV6']);
  });
});

describe('FELIX_* environment', () => {
  test('Felix\'s text forms: seconds, booleans, any case of name and value; other variables are not looked at', () => {
    const r = parseFelixEnv({
      FELIX_ROUTEREFRESHINTERVAL: '45.5', felix_vxlanvni: '7', FELIX_HEALTHENABLED: 'yes', FELIX_IPINIPENABLED: 'f', FELIX_DEFAULTENDPOINTTOHOSTACTION: 'ACCEPT',
      FELIX_LOGSEVERITYSCREEN: 'warning', FELIX_HEALTHPORT: '', PATH: '/bin', NODENAME: 'n1',
    });
    expect(r.errors).toEqual([]);
    expect(r.settings).toEqual({
      routeRefreshIntervalSeconds: 45.5, vxlanVni: 7, healthEnabled: true, ipipEnabled: false, defaultEndpointToHostAction: 'Accept', logSeverityScreen: 'Warning',
    });
  });

  test('`none` sets the zero value, then the usual checks apply', () => {
    expect(parseFelixEnv({ FELIX_PROMETHEUSMETRICSENABLED: 'none', FELIX_NFTABLESREFRESHINTERVAL: 'None' }).settings)
      .toEqual({ prometheusMetricsEnabled: false, nftablesRefreshIntervalSeconds: 0 });
    expect(messages(parseFelixEnv({ FELIX_VXLANVNI: 'none' }))).toEqual(['FELIX_VXLANVNI: "none" is not valid; expected a VXLAN network identifier from 1 to 16777215']);
  });

  test('bad values name the variable; unknown FELIX_ variables are ignored and listed', () => {
    const r = parseFelixEnv({ FELIX_HEALTHPORT: '99999', FELIX_ROUTEREFRESHINTERVAL: '90s', FELIX_TYPHAK8SSERVICENAME: 'calico-typha' });
    expect(messages(r)).toEqual([
      'FELIX_HEALTHPORT: "99999" is not valid; expected a TCP port from 0 to 65535',
      'FELIX_ROUTEREFRESHINTERVAL: "90s" is not valid; expected a number of seconds such as 90 (FELIX_ variables take seconds)',
    ]);
    expect(r.ignored).toEqual(['FELIX_TYPHAK8SSERVICENAME']);
  });
});

describe('effective settings: Felix\'s precedence', () => {
  test('nothing set: Felix\'s defaults', () => {
    expect(effectiveFelixSettings({})).toEqual({ settings: FELIX_DEFAULTS, errors: [], ignored: [] });
    expect(FELIX_DEFAULTS).toMatchObject({ defaultEndpointToHostAction: 'Drop', routeRefreshIntervalSeconds: 90, nftablesRefreshIntervalSeconds: 180, vxlanVni: 4096 });
    expect(FELIX_DEFAULTS.vxlanEnabled).toBeUndefined();
  });

  test('per field: environment over node.<name> over default over Felix\'s default', () => {
    const r = effectiveFelixSettings({
      defaults: { vxlanVNI: 1, vxlanPort: 1111, logSeverityScreen: 'Error', routeRefreshInterval: '10s' },
      node: { vxlanVNI: 2, vxlanPort: 2222 },
      env: { FELIX_VXLANVNI: '3' },
      nodeName: 'n1',
    });
    expect(r.errors).toEqual([]);
    expect(r.settings).toEqual({ ...FELIX_DEFAULTS, vxlanVni: 3, vxlanPort: 2222, logSeverityScreen: 'Error', routeRefreshIntervalSeconds: 10 });
  });

  test('a bad winning value takes no effect: Felix\'s default at start-up, the previous value afterwards; lower sources stay masked', () => {
    const sources = { defaults: { vxlanVNI: 10 }, node: { vxlanVNI: -1 }, nodeName: 'n1' };
    const first = effectiveFelixSettings(sources);
    expect(messages(first)).toEqual(['felixconfigurations/node.n1.vxlanVNI: -1 is not valid; expected a VXLAN network identifier from 1 to 16777215']);
    expect(first.settings.vxlanVni).toBe(4096);
    const previous: FelixSettings = { ...FELIX_DEFAULTS, vxlanVni: 77 };
    expect(effectiveFelixSettings({ ...sources, previous }).settings.vxlanVni).toBe(77);
  });

  test('an explicit false for an encapsulation survives the merge; unset stays "follow the pools"', () => {
    expect(effectiveFelixSettings({ defaults: { vxlanEnabled: false } }).settings.vxlanEnabled).toBe(false);
    expect(effectiveFelixSettings({ defaults: {} }).settings.ipipEnabled).toBeUndefined();
  });

  test('errors and ignored fields of every source are reported, each naming its source', () => {
    const r = effectiveFelixSettings({ defaults: { bpfEnabled: true }, node: { healthPort: 'x' }, env: { FELIX_BOGUS: '1' }, nodeName: 'n1' });
    expect(r.ignored).toEqual(['FELIX_BOGUS', 'felixconfigurations/default.bpfEnabled']);
    expect(messages(r)).toEqual(['felixconfigurations/node.n1.healthPort: "x" is not valid; expected an integer']);
  });
});

test('log levels of the kit\'s JSON logs', () => {
  expect(['Trace', 'Debug', 'Info', 'Warning', 'Error', 'Fatal'].map((s) => felixLogLevel(s as FelixSettings['logSeverityScreen'])))
    .toEqual(['debug', 'debug', 'info', 'warn', 'error', 'error']);
});
