import { createContext, useContext, useEffect, useRef, useState } from 'react';
import { io } from 'socket.io-client';
import { API_URL } from './config.js';

// The app holds ONE Socket.IO connection while someone is logged in, shared
// by every page through usePostsEvents, and closes it on log out or unmount
// (the original frontend opened a new one on every visit to the feed).

const SocketContext = createContext(null);

export function SocketProvider({ enabled, children }) {
  const listeners = useRef(new Set());
  const [state, setState] = useState('offline'); // offline | connecting | live

  useEffect(() => {
    if (!enabled) {
      setState('offline');
      return undefined;
    }
    const socket = io(API_URL, { autoConnect: false });
    const notify = (payload) => {
      for (const fn of listeners.current) fn(payload);
    };
    let connectedBefore = false;
    socket.on('connect', () => {
      setState('live');
      // Events sent while we were away are lost: let pages reload.
      if (connectedBefore) notify({ action: 'resync' });
      connectedBefore = true;
    });
    socket.on('disconnect', () => setState('connecting'));
    socket.on('connect_error', () => setState('connecting'));
    socket.on('posts', (payload) => {
      if (payload && typeof payload === 'object') notify(payload);
    });
    setState('connecting');
    socket.connect();
    return () => {
      socket.removeAllListeners();
      socket.disconnect();
    };
  }, [enabled]);

  const value = useRef({
    subscribe(fn) {
      listeners.current.add(fn);
      return () => listeners.current.delete(fn);
    },
  }).current;

  return (
    <SocketContext.Provider value={value}>
      <LiveStateContext.Provider value={state}>{children}</LiveStateContext.Provider>
    </SocketContext.Provider>
  );
}

const LiveStateContext = createContext('offline');

// useLiveState is the connection's state: offline, connecting or live.
export function useLiveState() {
  return useContext(LiveStateContext);
}

// usePostsEvents calls handler with every "posts" event payload
// ({action: create|update|delete, post}) and with {action: "resync"} after a
// reconnection. The latest handler is always the one called.
export function usePostsEvents(handler) {
  const ctx = useContext(SocketContext);
  const ref = useRef(handler);
  useEffect(() => {
    ref.current = handler;
  });
  useEffect(() => ctx.subscribe((payload) => ref.current(payload)), [ctx]);
}
