import { main } from './commands/main.ts';

// The `tickgate` command (bin/tickgate.js): every subcommand is in src/commands/.
process.exit(await main(process.argv.slice(2)));
