// Package cluster holds the test of several "herald serve" processes as one
// feed service: the Go test builds cmd/herald (with the web UI from web/dist
// embedded), creates a PostgreSQL database of its own, and for each cluster
// adapter (postgres, redis classic, redis sharded, each with its own Redis
// channel prefix) starts two instances, A and B, on that database, sharing a
// data folder and a JWT secret. Then:
//
//   - Go clients (package client) on A and on B receive the "posts" events of
//     a post created, edited and deleted through A's REST API, each exactly
//     once and in order;
//   - js/cluster.mjs drives the system's Chromium with playwright-core: a user
//     logged in on B's web UI sees a post created through A's API appear
//     without a reload, and GET /feed/posts gives the same totalItems on A
//     and B.
//
// It needs PostgreSQL (HERALD_TEST_POSTGRES, default the local server's
// "test" database, with the right to create databases), Redis at
// 127.0.0.1:6379 (HERALD_TEST_REDIS to change), node and npm (the test runs
// "npm ci" here, and "npm ci && npm run build" in web/, when their output is
// missing or stale) and Chromium at /usr/bin/chromium (or $CHROMIUM_PATH).
// Without node or Chromium the test is skipped, unless CI is set, when it
// fails. Screenshots and the servers' logs go to $ARTIFACTS_DIR, or to
// test/cluster/artifacts.
package cluster
