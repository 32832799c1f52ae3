"""A human takes over (issue 14): the handoff queue, claiming, talking, releasing.

`store.py` holds the SQL, `service.py` the rules, `routes.py` the REST API; the
WebSocket handler parses the `claim`, `operator_message` and `release` frames and
calls the service.
"""
