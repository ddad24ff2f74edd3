      *================================================================*
      * COPYBOOK  : IMFRETRN                                           *
      * PURPOSE   : IMF RETURN DETAIL (TC 150 SECTION) EXTRACT         *
      *             ONE RECORD PER ORIGINAL RETURN POSTED TO A MODULE  *
      *             (TIN / MFT / TAX PERIOD), WITH THE RETURN'S LINE   *
      *             ITEMS AND THE DEPENDENTS IT CLAIMS (0 TO 20).      *
      * FORMAT    : VARIABLE (RDW) - THE DEPENDENT TABLE HOLDS ONLY    *
      *             RET-DEP-COUNT ENTRIES.                       *
      * AMOUNTS   : SIGNED PACKED DECIMAL, DOLLARS AND CENTS.          *
      * CODES     : FILING STATUS 1 SINGLE, 2 MFJ, 3 MFS, 4 HOH, 5 QSS *
      *             (AS IN IMFENTTY).                                  *
      *================================================================*
       01  IMF-RETURN-REC.
           05  RET-KEY.
               10  RET-TIN                 PIC X(09).
               10  RET-MFT-CODE            PIC 9(02).
               10  RET-TAX-PERIOD          PIC 9(06).
           05  RET-FORM                    PIC X(08).
           05  RET-FILING-STATUS           PIC 9(01).
           05  RET-SPOUSE-TIN              PIC X(09).
           05  RET-FILED-DATE              PIC 9(08).
           05  RET-DLN                     PIC X(14).
           05  RET-DEPENDENTS-CLAIMED      PIC 9(02).
           05  RET-LINE-ITEMS.
               10  RET-WAGES               PIC S9(11)V99 COMP-3.
               10  RET-INTEREST            PIC S9(11)V99 COMP-3.
               10  RET-DIVIDENDS           PIC S9(11)V99 COMP-3.
               10  RET-BUSINESS-INCOME     PIC S9(11)V99 COMP-3.
               10  RET-RETIREMENT-INCOME   PIC S9(11)V99 COMP-3.
               10  RET-TOTAL-INCOME        PIC S9(11)V99 COMP-3.
               10  RET-AGI                 PIC S9(11)V99 COMP-3.
               10  RET-DEDUCTION           PIC S9(11)V99 COMP-3.
               10  RET-TAXABLE-INCOME      PIC S9(11)V99 COMP-3.
               10  RET-TAX                 PIC S9(11)V99 COMP-3.
               10  RET-CREDITS             PIC S9(11)V99 COMP-3.
               10  RET-TOTAL-TAX           PIC S9(11)V99 COMP-3.
               10  RET-WITHHOLDING         PIC S9(11)V99 COMP-3.
               10  RET-PAYMENTS            PIC S9(11)V99 COMP-3.
               10  RET-REFUND              PIC S9(11)V99 COMP-3.
               10  RET-BALANCE-DUE         PIC S9(11)V99 COMP-3.
           05  RET-BANK-ROUTING            PIC X(09).
           05  RET-BANK-ACCOUNT            PIC X(17).
           05  RET-DEP-COUNT         PIC S9(04)    COMP.
           05  RET-DEPENDENT               OCCURS 0 TO 20 TIMES
                                           DEPENDING ON RET-DEP-COUNT.
               10  DEP-TIN                 PIC X(09).
               10  DEP-RELATIONSHIP        PIC X(16).
