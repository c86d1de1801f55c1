import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../src/errors.js';

test('fieldErrors maps data[].param to its first message', () => {
  const err = new ApiError(422, 'Validation failed.', [
    { location: 'body', param: 'email', value: 'x', msg: 'Please enter a valid email.' },
    { location: 'body', param: 'email', value: 'x', msg: 'E-Mail address already exists!' },
    { location: 'body', param: 'name', value: '', msg: 'Name is required.' },
  ]);
  assert.equal(err.message, 'Validation failed.');
  assert.equal(err.status, 422);
  assert.deepEqual(err.fieldErrors(), { email: 'Please enter a valid email.', name: 'Name is required.' });
});

test('fieldErrors reads path (newer express-validator) too', () => {
  const err = new ApiError(422, 'Validation failed.', [{ type: 'field', path: 'title', msg: 'Too short.' }]);
  assert.deepEqual(err.fieldErrors(), { title: 'Too short.' });
});

test('a bare "Invalid value" says what the field needs', () => {
  const err = new ApiError(422, 'Validation failed.', [
    { param: 'password', msg: 'Invalid value' },
    { param: 'unknown', msg: 'Invalid value' },
  ]);
  assert.deepEqual(err.fieldErrors(), {
    password: 'Invalid value: use at least 5 characters.',
    unknown: 'Invalid value',
  });
});

test('no data, no field errors', () => {
  assert.deepEqual(new ApiError(401, 'Wrong password!').fieldErrors(), {});
});
