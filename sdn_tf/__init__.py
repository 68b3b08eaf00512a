"""sdn_tf: text-to-image synthesis by Symmetrical Distillation Networks."""
