export default {
  files: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  timeout: '3m',
  workerThreads: false,
  concurrency: 2,
};
