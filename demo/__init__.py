"""convzoo.demo: what ``make demo`` runs: the demo exports and its generated sample dataset."""
