import { Cidr, isIpAddress } from '../cidr';
import { ValidationError } from '../errors';

/**
 * How each node finds the address it uses for BGP and tunnels (`IP_AUTODETECTION_METHOD`).
 * `toString()` is the value the node agent reads.
 */
export class IpAutodetection {
  /**
   * The first address on the first interface that is not a known virtual one
   * (docker, bridge, veth, lo, cali, tunnel, flannel, cni, kube-ipvs, nodelocaldns).
   */
  public static firstFound(): IpAutodetection {
    return new IpAutodetection('first-found');
  }

  /** The first address on an interface whose name matches one of the regular expressions. */
  public static interface(...patterns: string[]): IpAutodetection {
    return new IpAutodetection(`interface=${checkPatterns('interface', patterns)}`);
  }

  /** Like firstFound, but also skipping interfaces matching the regular expressions. */
  public static skipInterface(...patterns: string[]): IpAutodetection {
    return new IpAutodetection(`skip-interface=${checkPatterns('skip-interface', patterns)}`);
  }

  /** The first address inside one of the CIDRs. */
  public static cidrs(...cidrs: string[]): IpAutodetection {
    if (cidrs.length === 0) throw new ValidationError('calico.ipAutodetection.cidr', cidrs, 'at least one CIDR');
    cidrs.forEach((c, i) => Cidr.parse(c, `calico.ipAutodetection.cidr[${i}]`));
    return new IpAutodetection(`cidr=${cidrs.join(',')}`);
  }

  /** The source address the node would use to reach this destination (address or host name). */
  public static canReach(destination: string): IpAutodetection {
    const hostname = /^[a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?$/;
    if (!isIpAddress(destination) && !hostname.test(destination)) {
      throw new ValidationError('calico.ipAutodetection.canReach', destination, 'an IP address or a host name');
    }
    return new IpAutodetection(`can-reach=${destination}`);
  }

  /** The node's `InternalIP` from its Kubernetes Node status. */
  public static kubernetesInternalIp(): IpAutodetection {
    return new IpAutodetection('kubernetes-internal-ip');
  }

  private constructor(private readonly method: string) {}

  public toString(): string {
    return this.method;
  }
}

function checkPatterns(kind: string, patterns: string[]): string {
  if (patterns.length === 0) throw new ValidationError(`calico.ipAutodetection.${kind}`, patterns, 'at least one regular expression');
  patterns.forEach((p, i) => {
    try {
      new RegExp(p);
    } catch {
      throw new ValidationError(`calico.ipAutodetection.${kind}[${i}]`, p, 'a valid regular expression');
    }
    if (p.includes(',')) throw new ValidationError(`calico.ipAutodetection.${kind}[${i}]`, p, 'a regular expression without ","');
  });
  return patterns.join(',');
}
