"""Small helpers every floor of the package may use; they import no sdn_tf."""
