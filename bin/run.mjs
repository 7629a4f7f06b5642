// Shared by bin/tickgate.js (compiled) and bin/tickgate-dev.js (sources): imports the CLI, and
// turns "the uWebSockets.js native binary cannot load here" into one clear line instead of a
// stack trace (glibc too old for the Node 22/24 binaries, or a Node version without a binary).
export async function runCli(entry) {
  try {
    await import(entry);
  } catch (err) {
    const text = String(err?.stack ?? err);
    if (!/uWS\.js|uws_\w+\.node|ERR_DLOPEN_FAILED/.test(text)) throw err;
    process.stderr.write(`${nativeLoadMessage(text)}\n`);
    process.exit(1);
  }
}

/** One line: which binary, why it failed where we can tell, and what to do. */
export function nativeLoadMessage(text) {
  const abi = process.versions.modules;
  const binary = `uws_${process.platform}_${process.arch}_${abi}.node`;
  const glibc = process.report?.getReport?.().header?.glibcVersionRuntime;
  const needs = /GLIBC_(\d+\.\d+)/.exec(text)?.[1];
  let why;
  if (needs)
    why = `it needs glibc >= ${needs}, this system has ${glibc ?? 'an older one'} (the Node 22/24 binaries need glibc >= 2.38: Debian 13, Ubuntu 24.04; or run Node 20)`;
  else if (/Cannot find module|MODULE_NOT_FOUND|no such file/i.test(text))
    why = `uWebSockets.js has no binary for Node ${process.version} on ${process.platform}-${process.arch} (ABI ${abi}); use Node 20, 22, 24 or 25`;
  else why = (/Error: ([^\n]+)\n*\s*$/.exec(text)?.[1] ?? text.split('\n').find((l) => l.trim() !== '') ?? 'unknown error').trim();
  return `tickgate: cannot load the uWebSockets.js native binary ${binary} under Node ${process.version}: ${why}. See "Node versions" in the README.`;
}
