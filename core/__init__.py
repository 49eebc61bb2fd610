"""The neutral bottom layer: models, ids, errors, amounts, search attributes and the texts
people see. It imports nothing else of walletflow, so every other package may import it."""
