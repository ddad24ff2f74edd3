      *================================================================*
      * COPYBOOK  : BMFENTTY                                           *
      * PURPOSE   : BUSINESS MASTER FILE (BMF) - ENTITY EXTRACT        *
      *             ONE RECORD PER EMPLOYER / PAYER / EXEMPT ORG.      *
      * NOTES     : THE IMF CARRIES INDIVIDUALS ONLY; BUSINESSES AND   *
      *             EXEMPT ORGANISATIONS LIVE ON THE BMF. EIN IS PIC X *
      *             SO THE SYNTHETIC PREFIX 00 SURVIVES.               *
      *             ALL DATA IN TAXVAULT IS SYNTHETIC.                 *
      *================================================================*
       01  BMF-ENTITY-REC.
           05  BEN-EIN                     PIC X(09).
           05  BEN-KIND                    PIC X(01).
               88  BEN-IS-BUSINESS                 VALUE 'B'.
               88  BEN-IS-EXEMPT-ORG               VALUE 'E'.
           05  BEN-NAME-CONTROL            PIC X(04).
           05  BEN-NAME-LINE               PIC X(70).
           05  BEN-ADDRESS.
               10  BEN-ADDR-LINE-1         PIC X(35).
               10  BEN-CITY                PIC X(22).
               10  BEN-STATE               PIC X(02).
               10  BEN-ZIP.
                   15  BEN-ZIP-5           PIC X(05).
                   15  BEN-ZIP-4           PIC X(04).
           05  FILLER                      PIC X(20).
