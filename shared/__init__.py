"""What the gateway and the workers share: the settings, the database and its states,
storage, the registry of outputs, job options, the queue and webhooks."""
