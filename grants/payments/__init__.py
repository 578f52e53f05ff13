"""Bank payment files: paying providers by ISO 20022 pain.001 or NACHA ACH credit transfer."""
