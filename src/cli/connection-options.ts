/**
 * The Temporal connection flags of every command that talks to Temporal, spelled as the `temporal` CLI spells them:
 * `--address`, `--namespace`, `--profile`, `--api-key` and the TLS flags. They are read together with envconfig
 * (@temporalio/envconfig): a flag overrides the environment variable of the same setting (TEMPORAL_ADDRESS …), which
 * overrides the TOML profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE or `--profile`). The flags are turned into those
 * variables, so envconfig alone decides, and a worker started by `canary worker` reads exactly what a command reads.
 */
import type { Command } from 'commander';
import type { CliContext } from './context';

/** The connection flags as commander parses them. */
export interface ConnectionFlags {
  address?: string;
  namespace?: string;
  profile?: string;
  apiKey?: string;
  /** `--tls` true, `--no-tls` false, neither undefined (TLS as the environment or profile says). */
  tls?: boolean;
  tlsCertPath?: string;
  tlsKeyPath?: string;
  tlsCaPath?: string;
  tlsServerName?: string;
}

/** Each flag and the envconfig variable it overrides. */
const FLAG_VARIABLES: ReadonlyArray<{ flag: keyof ConnectionFlags; variable: string }> = [
  { flag: 'address', variable: 'TEMPORAL_ADDRESS' },
  { flag: 'namespace', variable: 'TEMPORAL_NAMESPACE' },
  { flag: 'profile', variable: 'TEMPORAL_PROFILE' },
  { flag: 'apiKey', variable: 'TEMPORAL_API_KEY' },
  { flag: 'tls', variable: 'TEMPORAL_TLS' },
  { flag: 'tlsCertPath', variable: 'TEMPORAL_TLS_CLIENT_CERT_PATH' },
  { flag: 'tlsKeyPath', variable: 'TEMPORAL_TLS_CLIENT_KEY_PATH' },
  { flag: 'tlsCaPath', variable: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH' },
  { flag: 'tlsServerName', variable: 'TEMPORAL_TLS_SERVER_NAME' },
];

/** The long names of the connection flags, for help and for the test that every Temporal command has them. */
export const CONNECTION_FLAGS = ['--address', '--namespace', '--profile', '--api-key', '--tls', '--tls-cert-path', '--tls-key-path', '--tls-ca-path', '--tls-server-name'] as const;

const HEADING = 'Temporal connection (flags override TEMPORAL_* variables, which override the envconfig profile):';

/**
 * `env` with the given flags written over the variables they stand for. A client-certificate, key or CA path, or a
 * server name, turns TLS on as in the `temporal` CLI, unless `--no-tls` says otherwise.
 */
export function connectionEnv(flags: ConnectionFlags, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const { flag, variable } of FLAG_VARIABLES) {
    const value = flags[flag];
    if (value !== undefined) out[variable] = String(value);
  }
  const tlsDetail = flags.tlsCertPath ?? flags.tlsKeyPath ?? flags.tlsCaPath ?? flags.tlsServerName;
  if (tlsDetail !== undefined && flags.tls === undefined) out.TEMPORAL_TLS = 'true';
  return out;
}

/**
 * Adds the connection flags to `command`, in their own help group, and hands what was given to `cli` before the
 * command's action runs, so {@link CliContext.client} connects with them.
 */
export function addConnectionOptions(command: Command, cli: CliContext): Command {
  command
    .optionsGroup(HEADING)
    .option('--address <host:port>', 'Temporal server address (TEMPORAL_ADDRESS; default localhost:7233)')
    .option('--namespace <namespace>', 'Temporal namespace (TEMPORAL_NAMESPACE; default "default")')
    .option('--profile <name>', 'envconfig profile in the TOML config file (TEMPORAL_PROFILE; file: TEMPORAL_CONFIG_FILE)')
    .option('--api-key <key>', 'API key sent as a bearer token; turns TLS on (TEMPORAL_API_KEY)')
    .option('--tls', 'connect with TLS (TEMPORAL_TLS); on by default with an API key or any --tls-* flag')
    .option('--no-tls', 'connect without TLS even with an API key or a profile that turns it on')
    .option('--tls-cert-path <file>', 'client certificate for mTLS (TEMPORAL_TLS_CLIENT_CERT_PATH)')
    .option('--tls-key-path <file>', 'client private key for mTLS (TEMPORAL_TLS_CLIENT_KEY_PATH)')
    .option('--tls-ca-path <file>', 'CA certificate the server is verified against (TEMPORAL_TLS_SERVER_CA_CERT_PATH)')
    .option('--tls-server-name <name>', 'server name to verify and send as SNI (TEMPORAL_TLS_SERVER_NAME)')
    .optionsGroup('Options:')
    .hook('preAction', (_program, action) => {
      const options = action.opts<ConnectionFlags>();
      cli.useConnection(Object.fromEntries(FLAG_VARIABLES.map(({ flag }) => [flag, options[flag]])) as ConnectionFlags);
    });
  return command;
}
