"""AWS Lambda entry points over the same domain core as the realtime container."""
