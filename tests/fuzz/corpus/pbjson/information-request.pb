
DE-2026-004711DEFR *&Regulation (EU) 604/2013 Art. 34(2)(e)2BAMF-8842-2026-PSEUDOZb
Q1ZWas an application for international protection lodged in France, and at what stage is it?Z6
Q2.Did France issue a residence document or visa?’BAMF Referat 32A, Dublin unit