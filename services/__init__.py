"""Services: what a route asks for when it takes more than one store call (the ledger, the
hot store and the workflows together). Routes stay thin; activities stay for workflows."""
