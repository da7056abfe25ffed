// Child of bin/dockflow.js when the build is stale: runs the CLI's TypeScript
// entry (argv[2]) under `node --import tsx`, with the user's arguments after it.
const file = process.argv[2];
process.argv.splice(2, 1);
require(file).main().then((code) => {
  process.exitCode = code;
});
