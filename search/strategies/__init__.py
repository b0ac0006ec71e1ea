"""One module per strategy; `search.registry` names them."""
