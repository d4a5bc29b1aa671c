// A Playwright reporter that ends the run with "N passed, N failed, N skipped", the line
// conformance-tests/run.sh (and CI) read as the suite's count.
'use strict';

class SummaryReporter {
  constructor() {
    this.passed = 0;
    this.failed = 0;
    this.skipped = 0;
  }

  printsToStdio() {
    return true;
  }

  onTestEnd(test, result) {
    // Only the final attempt of a test counts (retries are off, but stay correct if turned on).
    if (result.retry < test.retries && result.status !== 'passed' && result.status !== 'skipped') return;
    if (result.status === 'passed') this.passed += 1;
    else if (result.status === 'skipped') this.skipped += 1;
    else this.failed += 1;
  }

  onEnd(result) {
    // A run that failed outside any test (global set-up, a syntax error in a spec) counts as a failure.
    if (result.status !== 'passed' && this.failed === 0) this.failed = 1;
    process.stdout.write(`${this.passed} passed, ${this.failed} failed, ${this.skipped} skipped\n`);
  }
}

module.exports = SummaryReporter;
