"""FastAPI app: thin routes that validate, admit and start or signal workflows."""
