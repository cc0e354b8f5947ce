// The ONE generator of Squid configuration. A lower level's proxy may only forward to its
// parent's proxy; the top level's proxy goes direct, and only to an allow-list of domains.
// Rules are first-match, so every deny comes before the single allow.

export interface SquidConfigInput {
  levelName: string;
  bindAddress: string;
  port: number;
  /** Parent proxy; undefined for the top level, which goes direct. */
  parent?: { host: string; port: number };
  /** Destination domains allowed out (".example.com" includes subdomains). Enforced at every level. */
  allowDomains: string[];
  /** Ports CONNECT may reach. */
  connectPorts: number[];
  /** Who may use this proxy: this level's workloads and the child levels' proxies. */
  clientCidrs: string[];
  paths: { pidFile: string; accessLog: string; cacheLog: string; coredumpDir: string };
  /** Optional process settings for targets that run Squid as a plain process (netns). */
  runtime?: SquidRuntime;
}

export interface SquidRuntime {
  /** `visible_hostname`: needed where the host name does not resolve. */
  visibleHostname?: string;
  /** `shutdown_lifetime`: how long a stopping Squid waits for open connections (Squid: 30 s). */
  shutdownLifetimeS?: number;
  /** `pinger_enable`: false starts no ICMP pinger helper. */
  pinger?: boolean;
  /** `hosts_file` (Squid: /etc/hosts). */
  hostsFile?: string;
  /** `dns_nameservers` (Squid: those of /etc/resolv.conf). */
  dnsNameservers?: string[];
}

export class SquidConfigError extends Error {}

const DOMAIN = /^\.?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The allow-list as Squid accepts it: each domain once, and none that a wildcard
 * entry already covers (".example.com" matches example.com and every subdomain; Squid refuses to
 * start when a list holds both, e.g. the Arc endpoint list's "gbl.his.arc.azure.com" and
 * ".his.arc.azure.com").
 */
export function squidDomainList(domains: string[]): string[] {
  const unique = [...new Set(domains)];
  const wildcards = unique.filter((d) => d.startsWith('.'));
  const covered = (d: string) => wildcards.some((w) => w !== d && (d === w.slice(1) || d.endsWith(w)));
  return unique.filter((d) => !covered(d));
}

export function renderSquidConf(input: SquidConfigInput): string {
  const problems: string[] = [];
  if (input.allowDomains.length === 0) problems.push('allowDomains is empty: name at least one destination domain, or no traffic can leave');
  for (const d of input.allowDomains) if (!DOMAIN.test(d)) problems.push(`allowDomains: "${d}" is not a domain name (use "example.com" or ".example.com")`);
  if (input.clientCidrs.length === 0) problems.push('clientCidrs is empty: name the networks allowed to use this proxy');
  if (input.connectPorts.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) problems.push('connectPorts must be TCP ports');
  const rt = input.runtime ?? {};
  if (rt.shutdownLifetimeS !== undefined && !(Number.isInteger(rt.shutdownLifetimeS) && rt.shutdownLifetimeS >= 0)) problems.push('runtime.shutdownLifetimeS must be a whole number of seconds');
  if (rt.visibleHostname !== undefined && !DOMAIN.test(rt.visibleHostname)) problems.push(`runtime.visibleHostname: "${rt.visibleHostname}" is not a host name`);
  if (problems.length) throw new SquidConfigError(`squid config for ${input.levelName}:\n  - ${problems.join('\n  - ')}`);

  const lines = [
    `# Squid egress proxy for level ${input.levelName}. Generated: do not edit by hand.`,
    `# First match wins: every deny comes before the one allow, and the last rule denies all.`,
    `http_port ${input.bindAddress}:${input.port}`,
    `pid_filename ${input.paths.pidFile}`,
    `access_log stdio:${input.paths.accessLog}`,
    `cache_log ${input.paths.cacheLog}`,
    `coredump_dir ${input.paths.coredumpDir}`,
    'cache deny all',
    'via off',
    'forwarded_for delete',
    ...(rt.visibleHostname !== undefined ? [`visible_hostname ${rt.visibleHostname}`] : []),
    ...(rt.shutdownLifetimeS !== undefined ? [`shutdown_lifetime ${rt.shutdownLifetimeS} seconds`] : []),
    ...(rt.pinger === false ? ['pinger_enable off'] : []),
    ...(rt.hostsFile !== undefined ? [`hosts_file ${rt.hostsFile}`] : []),
    ...(rt.dnsNameservers !== undefined && rt.dnsNameservers.length > 0 ? [`dns_nameservers ${rt.dnsNameservers.join(' ')}`] : []),
    '',
    `acl edge_clients src ${input.clientCidrs.join(' ')}`,
    `acl allowed_domains dstdomain ${squidDomainList(input.allowDomains).join(' ')}`,
    `acl connect_ports port ${input.connectPorts.join(' ')}`,
    'acl CONNECT method CONNECT',
    '',
    'http_access deny !edge_clients',
    'http_access deny CONNECT !connect_ports',
    'http_access deny !allowed_domains',
    'http_access allow edge_clients',
    'http_access deny all',
    'icp_access deny all',
    'htcp_access deny all',
  ];
  if (input.parent) {
    lines.push(
      '',
      `# Lower level: everything goes through the parent level's proxy, never direct.`,
      `cache_peer ${input.parent.host} parent ${input.parent.port} 0 no-query no-digest default name=parent`,
      'cache_peer_access parent allow all',
      'never_direct allow all',
    );
  } else {
    lines.push('', '# Top level: the only proxy that goes out, and only to allowed domains.', 'always_direct allow all');
  }
  return lines.join('\n') + '\n';
}
