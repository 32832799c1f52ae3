"""The graph's nodes: guardrail, router, specialists, risk assessment, approval gate, tools, escalation."""
