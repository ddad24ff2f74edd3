      *================================================================*
      * COPYBOOK  : IMFNOTIC                                           *
      * PURPOSE   : IMF NOTICE HISTORY EXTRACT                         *
      *             ONE RECORD PER NOTICE ISSUED ON A TAX MODULE       *
      *             (TIN / MFT / TAX PERIOD): TYPE (CP14, CP501 ...),  *
      *             ISSUE DATE, AMOUNTS, RESPOND-BY DATE.              *
      * AMOUNTS   : SIGNED PACKED DECIMAL, DOLLARS AND CENTS.          *
      *             DATES CCYYMMDD, ZERO MEANS NONE.                   *
      *================================================================*
       01  IMF-NOTICE-REC.
           05  NTC-KEY.
               10  NTC-TIN                 PIC X(09).
               10  NTC-MFT-CODE            PIC 9(02).
               10  NTC-TAX-PERIOD          PIC 9(06).
           05  NTC-TYPE                    PIC X(12).
           05  NTC-ISSUED-DATE             PIC 9(08).
           05  NTC-AMOUNT-DUE              PIC S9(11)V99 COMP-3.
           05  NTC-TAX                     PIC S9(11)V99 COMP-3.
           05  NTC-PENALTY                 PIC S9(11)V99 COMP-3.
           05  NTC-INTEREST                PIC S9(11)V99 COMP-3.
           05  NTC-RESPOND-BY-DATE         PIC 9(08).
