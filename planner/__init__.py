"""tailor planner: goal spec → decision graph → estimates → ranked plans (pure)."""
