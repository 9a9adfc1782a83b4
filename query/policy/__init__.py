"""The policy file and what it defines: levels, seniority, the gate's rules."""
