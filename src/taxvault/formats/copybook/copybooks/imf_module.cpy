      *================================================================*
      * COPYBOOK  : IMFMODUL                                           *
      * PURPOSE   : INDIVIDUAL MASTER FILE (IMF) - TAX MODULE EXTRACT  *
      *             ONE RECORD PER TIN / MFT / TAX PERIOD, WITH THE    *
      *             MODULE'S POSTED TRANSACTIONS (1 TO 99).            *
      * FORMAT    : VARIABLE (RDW) - THE TRANSACTION TABLE HOLDS ONLY  *
      *             MOD-TXN-COUNT ENTRIES. IN A FIXED-LENGTH EXTRACT   *
      *             THE TABLE RESERVES ALL 99 ENTRIES (4087 BYTES).    *
      * AMOUNTS   : SIGNED PACKED DECIMAL, DOLLARS AND CENTS.          *
      *================================================================*
       01  IMF-MODULE-REC.
           05  MOD-KEY.
               10  MOD-TIN                 PIC X(09).
               10  MOD-MFT-CODE            PIC 9(02).
               10  MOD-TAX-PERIOD          PIC 9(06).
           05  MOD-STATUS                  PIC 9(02).
           05  MOD-BALANCE                 PIC S9(11)V99 COMP-3.
           05  MOD-TXN-COUNT               PIC S9(04)    COMP.
           05  MOD-TRANSACTION             OCCURS 1 TO 99 TIMES
                                           DEPENDING ON MOD-TXN-COUNT
                                           INDEXED BY MOD-TXN-IX.
               10  TXN-CODE                PIC 9(03).
               10  TXN-AMOUNT              PIC S9(11)V99 COMP-3.
               10  TXN-23C-DATE            PIC 9(08).
               10  TXN-CYCLE               PIC 9(06).
               10  TXN-DLN                 PIC X(14).
               10  TXN-REASON-CODE         PIC 9(03).
