" .pspf files are pspfc stream-processing programs
autocmd BufRead,BufNewFile *.pspf setfiletype pspf
