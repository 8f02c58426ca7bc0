
DE-2026-004711FRDE 2BAMF-8842-2026-PSEUDO:OFPRA-2025-77120-PSEUDOBJ
Q1BApplication lodged in March 2025; first-instance decision pending.B-
Q2%No residence document or visa issued.zOFPRA, Dublin unit