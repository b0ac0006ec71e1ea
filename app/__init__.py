"""HTTP gateway: knows HTTP, knows no algorithm."""
