" Vim syntax file
" Language:    pspf (pspfc stream-processing programs)
" Maintainer:  the pspfc authors
" Files:       *.pspf
" Install:     make install puts it in $(DATADIR)/vim/vimfiles; or copy
"              editors/vim/ into ~/.vim/

if exists("b:current_syntax")
  finish
endif

syn keyword pspfDecl       type param source sink fn let
syn keyword pspfConditional if then else
syn keyword pspfOperator   and or not
syn keyword pspfBoolean    true false
syn keyword pspfConstant   none
syn keyword pspfType       int float string bool timestamp duration
syn keyword pspfConnector  file stdin stdout console mqtt kafka sqlite
syn keyword pspfStage      map filter flat_map key_by event_time window
syn keyword pspfStage      aggregate reduce fold merge dedupe
syn keyword pspfWindow     tumbling sliding session count
syn keyword pspfAggregate  sum min max avg first last count_distinct

syn match   pspfPipe       "|>"
syn match   pspfArrow      "=>\|->"
syn match   pspfNamedArg   "\<\h\w*\ze\s*:[^:]" contained
syn match   pspfNumber     "\<\d[0-9_]*\(\.\d\+\)\=\([eE][+-]\=\d\+\)\=\>"
syn match   pspfDuration   "\<\d[0-9_]*\(\.\d\+\)\=\(ms\|s\|m\|h\|d\)\>"
syn match   pspfTimestamp  "@\d[0-9A-Za-z:+.\-]*"
syn match   pspfEscape     "\\[\\\"nrt0]\|\\u{\x\+}" contained
syn region  pspfString     start=+"+ skip=+\\\\\|\\"+ end=+"+ oneline contains=pspfEscape

syn keyword pspfTodo       TODO FIXME XXX NOTE contained
syn match   pspfComment    "//.*$" contains=pspfTodo,@Spell
syn region  pspfComment    start="/\*" end="\*/" contains=pspfTodo,@Spell

hi def link pspfDecl        Keyword
hi def link pspfConditional Conditional
hi def link pspfOperator    Operator
hi def link pspfBoolean     Boolean
hi def link pspfConstant    Constant
hi def link pspfType        Type
hi def link pspfConnector   Function
hi def link pspfStage       Statement
hi def link pspfWindow      Function
hi def link pspfAggregate   Function
hi def link pspfPipe        Operator
hi def link pspfArrow       Operator
hi def link pspfNumber      Number
hi def link pspfDuration    Number
hi def link pspfTimestamp   Constant
hi def link pspfEscape      SpecialChar
hi def link pspfString      String
hi def link pspfTodo        Todo
hi def link pspfComment     Comment

let b:current_syntax = "pspf"
