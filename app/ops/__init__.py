"""Running the server: metrics, the access log, admission, connection and body limits, graceful shutdown."""
