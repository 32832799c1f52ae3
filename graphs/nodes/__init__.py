"""The graph's nodes: triage (guardrail + router), specialists (with risk assessment), approval gate, tools,
escalation."""
