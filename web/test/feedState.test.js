// Unit tests of the UI's pure parts: npm test (node's own test runner).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initial, pageOf, reducer } from '../src/feedState.js';

const post = (id, title = `post ${id}`) => ({ _id: id, title, content: 'content', imageUrl: 'images/x.png', creator: { _id: 'u', name: 'U' } });

function loaded(page, posts, totalItems) {
  return reducer(reducer(initial, { type: 'loading', page }), { type: 'loaded', page, posts, totalItems });
}

test('pageOf reads ?page=N and defaults to 1', () => {
  assert.equal(pageOf(''), 1);
  assert.equal(pageOf('?page=3'), 3);
  assert.equal(pageOf('?page=0'), 1);
  assert.equal(pageOf('?page=-2'), 1);
  assert.equal(pageOf('?page=abc'), 1);
});

test('create puts the post at the top of page 1, drops the last, counts one more', () => {
  const s = reducer(loaded(1, [post('b'), post('a')], 2), { type: 'created', post: post('c') });
  assert.deepEqual(s.posts.map((p) => p._id), ['c', 'b']);
  assert.equal(s.totalItems, 3);
});

test('create on a short page 1 keeps every post', () => {
  const s = reducer(loaded(1, [], 0), { type: 'created', post: post('a') });
  assert.deepEqual(s.posts.map((p) => p._id), ['a']);
  assert.equal(s.totalItems, 1);
});

test('create on another page only counts', () => {
  const s = reducer(loaded(2, [post('a')], 3), { type: 'created', post: post('d') });
  assert.deepEqual(s.posts.map((p) => p._id), ['a']);
  assert.equal(s.totalItems, 4);
});

test('a create already shown (the page load raced the event) is not doubled', () => {
  const s = reducer(loaded(1, [post('c'), post('b')], 3), { type: 'created', post: post('c') });
  assert.deepEqual(s.posts.map((p) => p._id), ['c', 'b']);
  assert.equal(s.totalItems, 3);
});

test('update replaces the post with the same _id, and nothing else', () => {
  const s0 = loaded(1, [post('b'), post('a')], 2);
  const s = reducer(s0, { type: 'updated', post: post('a', 'edited') });
  assert.deepEqual(s.posts.map((p) => p.title), ['post b', 'edited']);
  assert.equal(s.posts[0], s0.posts[0]);
  const other = reducer(s0, { type: 'updated', post: post('z', 'elsewhere') });
  assert.deepEqual(other.posts, s0.posts);
});

test('reloading the same page keeps its posts on screen; another page starts empty', () => {
  const s0 = loaded(1, [post('b'), post('a')], 2);
  const same = reducer(s0, { type: 'loading', page: 1 });
  assert.equal(same.status, 'refreshing');
  assert.equal(same.posts, s0.posts);
  const other = reducer(s0, { type: 'loading', page: 2 });
  assert.equal(other.status, 'loading');
  assert.deepEqual(other.posts, []);
});
