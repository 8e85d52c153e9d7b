"""What every service's HTTP app shares: serving it beside a Kafka loop (`server`), health and
metrics routes (`health`)."""
