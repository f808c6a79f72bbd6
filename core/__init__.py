"""What every app uses and no app owns: database helpers, the replica router, beat schedules in migrations,
task options, the application's errors and the API's error shape. It imports no app."""
