// node-opcua prints its own warnings and errors; route them into our JSON log lines instead.
import { format } from 'node:util';
import { setDebugLogger, setErrorLogger, setWarningLogger } from 'node-opcua-client'; // node-opcua-debug's, re-exported
import type { Logger } from './log.js';

// Node 20 notice about RSA PKCS#1 v1.5 (CVE-2023-46809): only Basic128Rsa15 uses it, and we never
// offer that policy, so it is kept at debug level.
const QUIET = ['NODE-OPCUA-W27', 'security-revert=CVE-2023-46809'];

export function routeOpcuaLogs(log: Logger): void {
  const route = (severity: 'debug' | 'warn' | 'error') => (context?: unknown, ...args: unknown[]) => {
    const ctx = typeof context === 'object' && context !== null && 'filename' in context ? (context as { filename: unknown }) : undefined;
    const text = format(...(ctx ? args : [context, ...args])).replace(/\x1b\[[0-9;]*m/g, '').trim();
    const level = QUIET.some((q) => text.includes(q)) ? 'debug' : severity;
    log[level](text, { from: 'node-opcua', ...(ctx ? { file: ctx.filename } : {}) });
  };
  setErrorLogger(route('error'));
  setWarningLogger(route('warn'));
  setDebugLogger(route('debug'));
}
