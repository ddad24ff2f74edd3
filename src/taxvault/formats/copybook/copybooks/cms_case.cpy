      *================================================================*
      * COPYBOOK  : CMSCASES                                           *
      * PURPOSE   : CASE MANAGEMENT SYSTEM (CMS) - CASE EXTRACT        *
      *             ONE RECORD PER CASE WITH ITS SUBJECTS (1 TO 10):   *
      *             THE SUBJECT'S TIN AND THE TAX MODULE THE CASE IS   *
      *             ABOUT (OWNER TIN / MFT / TAX PERIOD; MFT 00 = NONE)*
      * FORMAT    : VARIABLE (RDW). DATES CCYYMMDD, ZERO MEANS NONE.   *
      *================================================================*
       01  CMS-CASE-REC.
           05  CAS-UNIT                    PIC X(40).
           05  CAS-KIND                    PIC X(16).
           05  CAS-PURPOSE                 PIC X(40).
           05  CAS-ASSIGNED-TO             PIC X(40).
           05  CAS-STATUS                  PIC X(08).
           05  CAS-OPENED-DATE             PIC 9(08).
           05  CAS-CLOSED-DATE             PIC 9(08).
           05  CAS-SUBJ-COUNT           PIC S9(04)    COMP.
           05  CAS-SUBJECT                 OCCURS 1 TO 10 TIMES
                                           DEPENDING ON CAS-SUBJ-COUNT.
               10  SUB-TIN                 PIC X(09).
               10  SUB-MOD-TIN             PIC X(09).
               10  SUB-MFT-CODE            PIC 9(02).
               10  SUB-TAX-PERIOD          PIC 9(06).
