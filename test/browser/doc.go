// Package browser holds the browser tests of the feed service: the Go test
// builds cmd/herald (with the web UI from web/dist embedded), starts
// "herald serve" on a free port with a temporary data folder, and runs the
// Node scripts in js/, which drive the system's Chromium with playwright-core:
//
//   - two users in two browser contexts sign up, log in, and see what the
//     other creates, edits and deletes appear without a reload (ui.mjs);
//   - a page served from another origin connects with socket.io-client 2.5
//     and receives the "posts" event of a post created through the API
//     (crossorigin.mjs).
//
// It also runs the UI's unit tests (web/test, node's test runner).
//
// It needs node and npm (the test runs "npm ci" here, and "npm ci && npm run
// build" in web/, when their output is missing or stale) and Chromium at
// /usr/bin/chromium (or $CHROMIUM_PATH). Without node or Chromium the test is
// skipped, unless CI is set, when it fails. Screenshots go to $ARTIFACTS_DIR,
// or to test/browser/artifacts.
package browser
