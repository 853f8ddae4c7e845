"""tailor executor: plans → SkyPilot tasks and the local backend; run state."""
