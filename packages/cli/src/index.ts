export { type Connection, type ConnectOptions, connect, DEFAULT_URL, redactUrl } from './connect.js';
export { dumpLines, type GenerateOptions, generateDump } from './generate.js';
export { InterruptedError, type LoadOptions, type LoadResult, load } from './load.js';
export { type MainIO, main, USAGE } from './main.js';
export { FileProgress, type ProgressSink } from './progress.js';
