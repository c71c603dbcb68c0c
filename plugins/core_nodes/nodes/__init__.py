"""One module per palette category; every node declared in a module here is registered."""
