"""What every tool uses to reach a deployed pattern: its outputs, AWS clients, the signed Jobs API."""
