"""Live events, all in one place: render progress, clip status and vote tallies pushed
to the browser over websockets.

- `outbox`: `publish(topic, payload)` from any process; the database outbox and the
  relay that forwards it in the embedded default.
- `topics`: which topics exist, who may watch each, and the snapshot sent on
  (re)connect; each app registers its own prefixes when it starts.
- `consumer`: the websocket consumer.
- `frontend/static/frontend/live.js`: the client.
"""
