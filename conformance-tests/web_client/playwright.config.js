// Playwright configuration of the web client suite: Debian's Chromium (never a downloaded browser),
// headless, against the server named by MADANG_URL (see README.md).
'use strict';
const path = require('node:path');
const { defineConfig } = require('@playwright/test');

// Where traces and failure artefacts go; run.sh points it into the suite's results directory.
const outputDir = process.env.MADANG_WC_OUTPUT || path.join(__dirname, 'test-results');

module.exports = defineConfig({
  testDir: __dirname,
  testMatch: '*.spec.js',
  outputDir,
  // Two cores shared with the server under test: one worker keeps timings honest; override with
  // MADANG_WC_WORKERS. Every test has its own user, so more workers are safe.
  workers: Number(process.env.MADANG_WC_WORKERS || 1),
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 5_000 },
  reporter: [
    ['list'],
    ['junit', { outputFile: path.join(outputDir, 'junit.xml') }],
    // Prints "N passed, N failed, N skipped": the closing line conformance-tests/run.sh reads.
    [path.join(__dirname, 'summary-reporter.js')],
  ],
  use: {
    baseURL: process.env.MADANG_URL,
    browserName: 'chromium',
    headless: true,
    locale: 'en-US',
    viewport: { width: 1280, height: 900 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.MADANG_CHROMIUM || '/usr/bin/chromium',
      // The machine's network is closed: without these Chromium keeps trying to reach Google's
      // hosts at start-up (refused connections, failed look-ups) and slows every launch.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-domain-reliability',
        '--metrics-recording-only',
        '--no-pings',
      ],
    },
  },
});
