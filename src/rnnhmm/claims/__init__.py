"""Machine-readable checks of the paper's statements (docs/claims.md): the claim row and its columns
(:mod:`.core`), the performance, dynamics and mechanism claims, and the collection and summary of all
rows (:mod:`.summary`)."""
